import ControlPlane
import Logging
import Templates

/// `serve`'s start-up steps for live templates.
enum LiveTemplates {
    /// The last good texts from the state folder; a damaged file is reported and ignored.
    static func restore(_ state: TemplateLastGood, logger: Logger) -> TemplateSources? {
        do {
            return try state.load()
        } catch {
            logger.error("last good templates ignored", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// What the guard accepts from the folder without a catalog yet: the defaults (the safeguard
    /// policy is read from them) and the first compiler. The control plane judges the same texts
    /// again, with the cross-check, once it has a catalog.
    static func preview(_ sources: TemplateSources, lastGood: TemplateSources?) -> TemplateGuard.Outcome {
        var preview = TemplateGuard(lastGood: lastGood)
        return preview.evaluate(sources, catalog: nil)
    }
}
