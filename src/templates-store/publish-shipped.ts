import type { Kysely } from 'kysely';
import type { Database } from '../db/types';
import type { ValidateConfig } from '../render/validate-templates';
import { type FolderPublishOutcome, publishFolder } from './publish';
import { nothingPublished, PublishConflict } from './store';

/**
 * The first `migrate`: when nothing was ever published, the shipped files are (so a new
 * installation sends at once). Returns null when something was already published, here or by
 * another host migrating at the same moment.
 */
export async function publishShippedIfNone(db: Kysely<Database>, dir: string, config: ValidateConfig): Promise<FolderPublishOutcome | null> {
  if (!(await nothingPublished(db))) return null;
  try {
    return await publishFolder(db, dir, config, { actor: 'migrate', message: 'the shipped templates', arm: 'A', source: 'migrate' });
  } catch (error) {
    if (error instanceof PublishConflict) return null;
    throw error;
  }
}
