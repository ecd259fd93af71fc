/** A phrase of each copy's footer, written by hand: which copy an email was written from. */
export const COPY_FOOTERS: Record<string, string> = {
  en: 'Unsubscribe from renewal reminders',
  de: 'Verlängerungserinnerungen abbestellen',
  fr: 'Ne plus recevoir les rappels de renouvellement',
  es: 'Darse de baja de los recordatorios de renovación',
  ja: '更新のお知らせの配信を停止する',
};
