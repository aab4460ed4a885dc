// Stands in for @peculiar/x509 in the agent and CLI bundles (scripts/build-agent.mjs,
// build-cli.mjs). werift imports it only to make DTLS certificates, which rtc-endpoint makes
// itself (dtls-cert.ts); left in, its schema classes hold about 8 MiB of the agent's memory and
// take ~35 ms to load in every cold CLI. werift calls cryptoProvider.set when it
// loads; any other use is a werift path these bundles must not take, and says so.

function leftOut(): never {
  throw new Error('@peculiar/x509 is left out of this bundle: give werift the DTLS keys from dtls-cert.ts');
}

export const cryptoProvider = { set: (): void => undefined };
export const X509CertificateGenerator = { createSelfSigned: leftOut };
export const PemConverter = { encode: leftOut };
