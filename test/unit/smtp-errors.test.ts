import { classifySmtpError, describeSmtpError } from '../../src/send/smtp-errors';

describe('classifySmtpError', () => {
  it('treats 5xx replies and envelope refusals as permanent', () => {
    expect(classifySmtpError({ code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 User unknown' })).toBe('permanent');
    expect(classifySmtpError({ code: 'EMESSAGE', responseCode: 554 })).toBe('permanent');
    expect(classifySmtpError({ code: 'EAUTH', responseCode: 535 })).toBe('permanent');
  });

  it('treats 4xx replies as transient, also after the body went out', () => {
    expect(classifySmtpError({ code: 'EENVELOPE', responseCode: 451, response: '451 4.7.1 Try later' })).toBe('transient');
    expect(classifySmtpError({ code: 'EMESSAGE', responseCode: 452, afterBody: true })).toBe('transient');
  });

  it('retries network failures before the body went out', () => {
    expect(classifySmtpError({ code: 'ESOCKET', command: 'CONN', message: 'connect ECONNREFUSED 127.0.0.1:25' })).toBe('transient');
    expect(classifySmtpError({ code: 'ETIMEDOUT', command: 'CONN' })).toBe('transient');
  });

  it('never retries a connection lost after the body went out', () => {
    expect(classifySmtpError({ code: 'ECONNECTION', command: 'CONN', afterBody: true })).toBe('ambiguous');
    expect(classifySmtpError({ code: 'ETIMEDOUT', command: 'CONN', afterBody: true })).toBe('ambiguous');
  });

  it('describes a failure by the server reply when there is one', () => {
    expect(describeSmtpError({ code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 User unknown' })).toBe('550 5.1.1 User unknown');
    expect(describeSmtpError({ code: 'ESOCKET', message: 'connect ECONNREFUSED' })).toBe('ESOCKET: connect ECONNREFUSED');
  });
});
