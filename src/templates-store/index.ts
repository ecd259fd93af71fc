/**
 * Published template versions: what the workers send, and the operations the command line and
 * the console's editor call (publish, versions, rollback, diff, drafts, experiments).
 */
export { ARMS, armFor } from './arms';
export { checkFileSet, checkFolder, type CheckedVariant } from './check-files';
export { type EditPublishOutcome, type EditRequest, type FolderPublishOutcome, publishEdit, publishFolder, type PublishRequest } from './publish';
export {
  type Conflict,
  diffVersions,
  type Draft,
  endExperiment,
  listDrafts,
  listRefusals,
  liveVersions,
  loadVersion,
  type LiveVersion,
  type Publication,
  publicationHistory,
  PublishConflict,
  type RefusedTemplate,
  rollback,
  saveDraft,
} from './store';
