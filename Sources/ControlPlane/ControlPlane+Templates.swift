import Catalog
import Logging
import Templates
import XDS

/// Live templates: the guard's state inside the control plane's state.
struct TemplatesState {
    var templateGuard: TemplateGuard
    var outcome: TemplateGuard.Outcome?
    /// A candidate arrived before any catalog: it is judged (with the cross-check) on the first one.
    var pending = false
    /// True until the first judgement: the last good texts then came from the state folder.
    var restoredFromDisk: Bool
    var applied = 0
}

extension ControlPlane {
    /// What an operator sees of the templates: refused files and withheld services.
    public struct TemplateStatus: Sendable {
        public let refused: [TemplateGuard.Refusal]
        public let withheld: [String]
        /// Files in the accepted set (new good ones plus last good ones kept).
        public let files: Int
        /// Accepted sets that changed what is compiled, since start.
        public let applied: Int
        /// Where the last good texts are kept, when they are.
        public let lastGoodPath: String?
        public var degraded: Bool { !refused.isEmpty }
    }

    /// Turns on live templates: from now on `updateTemplates` feeds the compiler, guarded against
    /// `lastGood` (restored from the state folder, or nil). Call before anything is compiled.
    public func enableLiveTemplates(lastGood: TemplateSources?) {
        state.withLock { s in
            s.templates = TemplatesState(templateGuard: TemplateGuard(lastGood: lastGood), restoredFromDisk: lastGood != nil)
        }
    }

    /// New template texts (from the watcher): judged by the guard; every service whose template
    /// or defaults changed is recompiled on the served catalog and published on the same streams.
    /// Before the first catalog the texts wait, and are judged with the first one.
    public func updateTemplates(_ sources: TemplateSources) {
        let start = ContinuousClock.now
        let snapshots = state.withLock { s -> [Snapshot]? in
            guard var templates = s.templates else { return nil }
            guard let catalog = s.served else {
                templates.pending = true
                templates.templateGuard = TemplateGuard(lastGood: templates.templateGuard.lastGood, candidate: sources)
                s.templates = templates
                return nil
            }
            judge(sources, catalog, &s)
            return compileAll(catalog, &s)
        }
        guard let snapshots else { return }
        let changed = store.publish(snapshots)
        if !changed.isEmpty {
            logger.info(
                "templates applied", metadata: ["changed": "\(changed.count)", "duration": "\(ContinuousClock.now - start)"])
        }
    }

    /// The operator removes a service's template for good (after deleting its file): its last good
    /// text is dropped, and the service gets what the folder now says (the default template when
    /// it is in the catalog). Returns false when no last good text named the service.
    public func forgetTemplate(service: String) -> Bool {
        var forgotten = false
        let snapshots = state.withLock { s -> [Snapshot]? in
            guard var templates = s.templates, templates.templateGuard.forget(service: service) else { return nil }
            forgotten = true
            s.templates = templates
            guard let catalog = s.served, let candidate = templates.templateGuard.candidate else { return nil }
            judge(candidate, catalog, &s)
            return compileAll(catalog, &s)
        }
        if forgotten { logger.notice("operator removed a template", metadata: ["service": "\(service)"]) }
        if let snapshots { store.publish(snapshots) }
        return forgotten
    }

    /// Nil without live templates.
    public var templateStatus: TemplateStatus? {
        state.withLock { s in
            s.templates.map {
                TemplateStatus(
                    refused: $0.outcome?.refused ?? [], withheld: ($0.outcome?.withheld ?? []).sorted(),
                    files: $0.outcome?.accepted.files.count ?? 0, applied: $0.applied, lastGoodPath: templateLastGood?.path)
            }
        }
    }

    // MARK: - Under the lock

    /// Judges the waiting candidate on the first catalog, and re-judges a set with refusals on
    /// every catalog change (a dependency that was unknown may have appeared).
    func judgeTemplatesIfPending(_ catalog: Catalog, _ s: inout State) {
        guard let templates = s.templates, let candidate = templates.templateGuard.candidate else { return }
        guard templates.pending || !(templates.outcome?.refused.isEmpty ?? true) else { return }
        judge(candidate, catalog, &s)
    }

    private func judge(_ sources: TemplateSources, _ catalog: Catalog, _ s: inout State) {
        guard var templates = s.templates else { return }
        let previous = templates.outcome
        let outcome = templates.templateGuard.evaluate(sources, catalog: catalog)
        templates.outcome = outcome
        templates.pending = false
        if previous?.templates != outcome.templates || previous?.withheld != outcome.withheld {
            s.compiler = TemplateCompiler(templates: outcome.templates, withheld: outcome.withheld)
            templates.applied += 1
        }
        if previous?.accepted != outcome.accepted { templateLastGood?.submit(outcome.accepted) }
        report(previous?.refused ?? [], outcome, fromDisk: templates.restoredFromDisk)
        templates.restoredFromDisk = false
        s.templates = templates
    }

    private func report(_ before: [TemplateGuard.Refusal], _ outcome: TemplateGuard.Outcome, fromDisk: Bool) {
        for refusal in outcome.refused where !before.contains(refusal) {
            let serving =
                refusal.servingLastGood
                ? (fromDisk ? "serving the last good version restored from \(templateLastGood?.path ?? "the state folder")"
                    : "serving its last good version")
                : (refusal.service.map { "service '\($0)' has no last good template and gets no new configuration" }
                    ?? "built-in defaults in use")
            let metadata: Logger.Metadata = [
                "file": "\(refusal.file)", "kind": "\(refusal.kind.rawValue)", "errors": "\(refusal.errors.joined(separator: "; "))",
            ]
            if fromDisk && refusal.servingLastGood {
                logger.critical("template refused at start; \(serving)", metadata: metadata)
            } else {
                logger.error("template refused; \(serving)", metadata: metadata)
            }
        }
        for refusal in before where !outcome.refused.contains(where: { $0.file == refusal.file }) {
            logger.notice("template accepted again", metadata: ["file": "\(refusal.file)"])
        }
    }
}
