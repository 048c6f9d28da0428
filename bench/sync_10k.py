#!/usr/bin/env python3
"""Times a 10,000-record syncMembers against a running Roster, twice (all
created, then all unchanged), and counts the SQL statements of a members
page of 50 with groups. Standard library only.

    bench/sync_10k.py URL OPERATOR_TOKEN [RECORDS]
"""

import json
import sys
import time
import urllib.request


def call(url, token, query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        url + "/graphql",
        data=body,
        headers={"content-type": "application/json", "authorization": "Bearer " + token},
    )
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)
    if answer.get("errors"):
        sys.exit(f"GraphQL error: {answer['errors']}")
    return answer["data"]


def statements(url):
    with urllib.request.urlopen(url + "/metrics") as response:
        for line in response.read().decode().splitlines():
            if line.startswith("roster_sql_statements_total "):
                return int(line.split()[1])
    sys.exit("no roster_sql_statements_total in /metrics")


def main():
    url, token = sys.argv[1].rstrip("/"), sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    slug = f"sync-bench-{int(time.time() * 1000)}"
    org = call(url, token, "mutation($n:String!,$s:String!){createOrg(name:$n,slug:$s){id}}",
               {"n": "Sync bench", "s": slug})["createOrg"]["id"]
    for name in ("Engineering", "Sales", "Support"):
        call(url, token, "mutation($o:Uuid,$n:String!){createGroup(org:$o,name:$n){result}}",
             {"o": org, "n": name})
    records = [
        {
            "email": f"person{i}@example.com",
            "externalId": f"emp-{i}",
            "firstName": f"First{i % 997}",
            "lastName": f"Last{i}",
            "role": "ADMIN" if i == 0 else "USER",
            "attributes": {"department": ["eng", "sales", "support"][i % 3], "level": i % 7},
            "groups": [["Engineering"], ["Sales", "Support"], []][i % 3],
        }
        for i in range(count)
    ]
    sync = ("mutation($o:Uuid,$r:[SyncRecord!]!){syncMembers(org:$o,records:$r)"
            "{written counts{created updated unchanged retired failed}}}")
    size = len(json.dumps({"query": sync, "variables": {"o": org, "r": records}}))
    print(f"records: {count}, request body: {size / 1e6:.1f} MB")
    for label in ("first run (all created)", "second run (all unchanged)"):
        start = time.perf_counter()
        counts = call(url, token, sync, {"o": org, "r": records})["syncMembers"]
        elapsed = time.perf_counter() - start
        print(f"{label}: {elapsed:.2f} s  {json.dumps(counts['counts'])}")
    page = ("query($o:Uuid){members(org:$o,first:50)"
            "{edges{cursor node{id email name role groups{id name role}}}}}")
    before = statements(url)
    call(url, token, page, {"o": org})
    print(f"SQL statements for a page of 50 with groups (token check included): "
          f"{statements(url) - before}")


if __name__ == "__main__":
    main()
