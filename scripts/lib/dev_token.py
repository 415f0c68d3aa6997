"""Links the dev account on a running `connector serve` the way ChatGPT and a person
would (authorize -> login -> printed one-time code -> consent -> token) and prints the
access token. Used by scripts/check-openapi to give schemathesis a valid token.

usage: dev_token.py BASE_URL SERVE_LOG CLIENT_SECRET [RESOURCE]

With RESOURCE (RFC 8707), e.g. BASE_URL/mcp, the token is issued for that resource: used by
scripts/mcp-conformance for a token the MCP endpoint accepts.
"""
import re
import sys
import time
import urllib.parse

import requests

base, log_path, secret = sys.argv[1], sys.argv[2], sys.argv[3]
resource = {"resource": sys.argv[4]} if len(sys.argv) > 4 else {}
redirect = f"{base}/dev/oauth/callback"
browser = requests.Session()


def fields(html):
    grab = lambda name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)
    return {"request": grab("request"), "csrf": grab("csrf")}


r = browser.get(
    f"{base}/oauth/chatgpt/authorize",
    params={
        "response_type": "code",
        "client_id": "chatgpt-dev",
        "redirect_uri": redirect,
        "scope": "mcp:invoke wallet:read profile",
        "state": "schemathesis",
        **resource,
    },
    allow_redirects=False,
)
assert r.status_code == 303, r.text
form = fields(browser.get(base + r.headers["location"]).text)
r = browser.post(f"{base}/oauth/chatgpt/login", data={**form, "email": "dev@dexter.local"}, allow_redirects=False)
assert r.status_code == 200, r.text

code = None
for _ in range(50):
    found = re.findall(r"one-time code for dev@dexter\.local: (\d+)", open(log_path).read())
    if found:
        code = found[-1]
        break
    time.sleep(0.1)
assert code, "connector serve printed no one-time code"

r = browser.post(f"{base}/oauth/chatgpt/callback", data={**form, "code": code}, allow_redirects=False)
assert r.status_code == 303, r.text
form = fields(browser.get(base + r.headers["location"]).text)
r = browser.post(f"{base}/oauth/chatgpt/consent", data={**form, "decision": "allow"}, allow_redirects=False)
assert r.status_code == 303, r.text
query = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["location"]).query)
tokens = requests.post(
    f"{base}/oauth/chatgpt/token",
    auth=("chatgpt-dev", secret),
    data={"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect, **resource},
).json()
print(tokens["access_token"])
