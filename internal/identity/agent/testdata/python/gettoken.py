"""Gets a token twice with one of Microsoft's Python clients, as an unmodified
workload would, and prints {"token", "expires_on", "second_from_cache"} as JSON.

Run by ../../python_test.go with /usr/bin/python3 and Debian's python3-azure and
python3-msal. The endpoint comes from the environment (IDENTITY_ENDPOINT and
IDENTITY_HEADER, or AZURE_POD_IDENTITY_AUTHORITY_HOST); the client from
LASTMILE_TEST_CLIENT (ManagedIdentityCredential, DefaultAzureCredential or
ManagedIdentityClient), the scope from LASTMILE_TEST_SCOPE and an optional
user-assigned client id from LASTMILE_TEST_CLIENT_ID.

Exit status 3 with {"skip": reason} means the installed client cannot run this
case; 1 means the client failed (the error is on stderr).
"""
import json
import os
import sys
import time
import traceback


def skip(reason):
    print(json.dumps({"skip": reason}))
    sys.exit(3)


def version_tuple(v):
    parts = []
    for p in v.split("."):
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def azure_identity(kind, scope, client_id):
    import azure.identity

    if kind == "ManagedIdentityCredential":
        cred = azure.identity.ManagedIdentityCredential(client_id=client_id) if client_id else azure.identity.ManagedIdentityCredential()
    else:
        # A workload selects its user-assigned identity with AZURE_CLIENT_ID.
        if client_id:
            os.environ["AZURE_CLIENT_ID"] = client_id
        cred = azure.identity.DefaultAzureCredential()
    first = cred.get_token(scope)
    second = cred.get_token(scope)
    return {
        "token": first.token,
        "expires_on": int(first.expires_on),
        "second_from_cache": second.token == first.token,
        "version": azure.identity.__version__,
    }


def msal_client(scope, client_id):
    import msal
    import requests

    if not hasattr(msal, "ManagedIdentityClient"):
        skip("MSAL Python %s has no ManagedIdentityClient (it came in MSAL Python 1.29)" % msal.__version__)
    imds = "IDENTITY_ENDPOINT" not in os.environ
    if imds and version_tuple(msal.__version__) < (1, 32):
        # 1.29 to 1.31 always call 169.254.169.254 for IMDS.
        skip("MSAL Python %s ignores AZURE_POD_IDENTITY_AUTHORITY_HOST (honoured from 1.32)" % msal.__version__)
    identity = msal.UserAssignedManagedIdentity(client_id=client_id) if client_id else msal.SystemAssignedManagedIdentity()
    client = msal.ManagedIdentityClient(identity, http_client=requests.Session())
    resource = scope[: -len("/.default")] if scope.endswith("/.default") else scope
    first = client.acquire_token_for_client(resource=resource)
    if "access_token" not in first:
        raise RuntimeError("%s: %s" % (first.get("error"), first.get("error_description")))
    second = client.acquire_token_for_client(resource=resource)
    return {
        "token": first["access_token"],
        "expires_on": int(time.time()) + int(first["expires_in"]),
        "second_from_cache": second.get("token_source") == "cache" and second.get("access_token") == first["access_token"],
        "version": msal.__version__,
    }


def main():
    kind = os.environ["LASTMILE_TEST_CLIENT"]
    scope = os.environ["LASTMILE_TEST_SCOPE"]
    client_id = os.environ.get("LASTMILE_TEST_CLIENT_ID") or None
    try:
        if kind == "ManagedIdentityClient":
            out = msal_client(scope, client_id)
        else:
            try:
                import azure.identity  # noqa: F401
            except ImportError as e:
                skip("azure-identity is not installed for %s: %s" % (sys.executable, e))
            out = azure_identity(kind, scope, client_id)
    except ImportError as e:
        skip("not installed for %s: %s" % (sys.executable, e))
    except Exception:  # the test shows what the client raised
        traceback.print_exc()
        sys.exit(1)
    print(json.dumps(out))


main()
