/// Fleet-wide defaults (`Config/defaults.yaml`): one value for every field a template may omit.
///
/// Every field has a built-in value (`Defaults()`), so a partial `defaults.yaml` is fine.
public struct Defaults: Sendable, Equatable, Hashable {
    /// Address the sidecar's inbound and outbound listeners bind.
    public var listenerAddress: String = "127.0.0.1"
    /// Port of the outbound listener (the application's egress proxy).
    public var outboundPort: Int = 15001
    /// Port of the inbound listener; `nil` disables inbound listeners for every service.
    public var inboundPort: Int? = 15006
    /// Cluster `connect_timeout`.
    public var connectTimeout: Duration = .seconds(1)
    /// Route timeout for dependencies that do not set one (and for passthrough). Zero: none.
    public var routeTimeout: Duration = .seconds(15)
    /// Whether the outbound listener sends undeclared destinations to the `passthrough` cluster.
    public var passthrough: Bool = true
    /// Protocol of inbound ports and dependencies that do not set one.
    public var `protocol`: ServiceProtocol = .http1
    /// Inbound port of the template used for services without a file; `nil`: no inbound listener.
    public var defaultInbound: Inbound? = nil
    /// Inbound settings for templates that do not set them (`defaults.yaml` `inbound:`).
    public var inbound = InboundPolicy()
    /// Dependency settings for dependencies that do not set them (`defaults.yaml` `dependency:`).
    public var dependency = DependencyPolicy()
    /// The request header whose value names a sandbox (`routes.sandbox_header`).
    public var sandboxHeader = "x-sandbox"
    /// How `serve` guards catalog changes (`safeguards:`).
    public var safeguards = SafeguardSettings()

    public init() {}
}
