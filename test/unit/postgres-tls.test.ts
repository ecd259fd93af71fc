import { pgConnectionString } from '../../src/db/connection';
import { postgresUnavailable } from '../../src/service-checks';

describe('sslmode in DATABASE_URL', () => {
  it.each([
    // What node-postgres 8 does with each mode, named so that it prints no warning about pg 9.
    ['postgres://u@db/x?sslmode=require', 'postgres://u@db/x?sslmode=verify-full'],
    ['postgres://u@db/x?sslmode=prefer&application_name=r', 'postgres://u@db/x?sslmode=verify-full&application_name=r'],
    ['postgres://u@db/x?connect_timeout=5&SSLMODE=verify-ca', 'postgres://u@db/x?connect_timeout=5&SSLMODE=verify-full'],
    // Left alone: the modes pg 8 reads without a warning, and libpq's meanings asked for.
    ['postgres://u@db/x?sslmode=verify-full', 'postgres://u@db/x?sslmode=verify-full'],
    ['postgres://u@db/x?sslmode=no-verify', 'postgres://u@db/x?sslmode=no-verify'],
    ['postgres://u@db/x?sslmode=disable', 'postgres://u@db/x?sslmode=disable'],
    ['postgres://u@db/x?uselibpqcompat=true&sslmode=require', 'postgres://u@db/x?uselibpqcompat=true&sslmode=require'],
    ['postgres://u:require@db/sslmode_require', 'postgres://u:require@db/sslmode_require'],
  ])('%s reaches the driver as %s', (given, used) => {
    expect(pgConnectionString(given)).toBe(used);
  });

  it('says what to do about a certificate it does not accept, in one line', () => {
    const error = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    const message = postgresUnavailable('postgres://u:secret@db.example.com/x?sslmode=require', error).message;
    expect(message).toMatch(/db\.example\.com.*certificate was not accepted \(self-signed certificate in certificate chain\).*sslrootcert=.*sslmode=no-verify/);
    expect(message).not.toContain('secret');
    expect(message.split('\n')).toHaveLength(1);
  });
});
