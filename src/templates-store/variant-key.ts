import type { Family, Variant } from '../render/template-source';
import type { VariantRef } from '../render/variants';

/** How a variant is written in the tables: the offset as text, or 'expired'. */
export const variantColumn = (variant: Variant): string => String(variant);

export const variantFromColumn = (value: string): Variant => (value === 'expired' ? 'expired' : Number(value));

/** A row of any template table, read back as the variant it names. */
export function refOf(row: { family: string; locale: string; variant: string }): VariantRef {
  return { family: row.family as Family, locale: row.locale, variant: variantFromColumn(row.variant) };
}
