"""Runs the scim2-tester conformance checks against a running Roster.

    python .ci/scim_conformance.py http://127.0.0.1:8080/scim/v2 <token with the scim scope>

Prints every check that ends as neither SUCCESS nor COMPLIANT, then
"N passed, N failed"; exits non-zero on any ERROR or CRITICAL. Needs
scim2-tester (pinned in .ci/scim-requirements.txt) in a virtualenv.
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base, token = sys.argv[1], sys.argv[2]
    client = SyncSCIMClient(
        httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
    )
    client.discover()
    results = check_server(client, resource_types=["User", "Group"])
    passed = failed = 0
    for result in results:
        if result.status in (Status.SUCCESS, Status.COMPLIANT):
            passed += 1
            continue
        if result.status in (Status.ERROR, Status.CRITICAL):
            failed += 1
        print(f"{result.status.name}\t{result.resource_type or '-'}\t{result.title}\t{result.reason}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
