/**
 * Hiding credentials wherever text may carry them: log lines, error messages, printed problems.
 * Pure string functions, so the logger, the configuration check and the command line share them.
 */

/** `scheme:` (with any slashes) then a userinfo up to the last `@` of the same word. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/{0,2})([^\s"'<>`@]*(?:@[^\s"'<>`@]*)*?)@(?=[^\s"'<>`@]*(?:[\s"'<>`]|$))/gi;

/**
 * Replaces the password of every URL in `text` with `***`, keeping the user name and host:
 * `smtp://user:secret@host:25` becomes `smtp://user:***@host:25`. Works on URLs that do not
 * parse (a port out of range, an unencoded `@` or `/` in the password), which is exactly when
 * they end up in an error message.
 */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, (match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon < 0) return match;
    return `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}

/** Replaces every occurrence of each secret (and its URL-encoded form) with `***`. */
export function maskSecretValues(text: string, secrets: readonly string[]): string {
  let masked = text;
  for (const secret of secrets) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      if (form.length > 0) masked = masked.split(form).join('***');
    }
  }
  return masked;
}

/** Both of the above: what any text leaving the process goes through. */
export function maskCredentials(text: string, secrets: readonly string[] = []): string {
  return maskSecretValues(maskUrlCredentials(text), secrets);
}

/** The password of a connection URL, decoded, or '' when it has none or does not parse. */
export function urlPassword(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}
