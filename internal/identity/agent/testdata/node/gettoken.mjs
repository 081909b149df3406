// Gets a token with @azure/identity's ManagedIdentityCredential, as an unmodified
// Node workload would, and prints {"token", "expiresOnTimestamp"} as JSON.
// The endpoint comes from the environment (AZURE_POD_IDENTITY_AUTHORITY_HOST for
// the IMDS protocol, or IDENTITY_ENDPOINT and IDENTITY_HEADER); the scope and an
// optional client id from LASTMILE_TEST_SCOPE and LASTMILE_TEST_CLIENT_ID.
import { ManagedIdentityCredential } from "@azure/identity";

const clientId = process.env.LASTMILE_TEST_CLIENT_ID;
const credential = clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
try {
  const token = await credential.getToken(process.env.LASTMILE_TEST_SCOPE);
  process.stdout.write(JSON.stringify({ token: token.token, expiresOnTimestamp: token.expiresOnTimestamp }) + "\n");
} catch (err) {
  process.stderr.write(`${err.name}: ${err.message}\n`);
  process.exit(1);
}
