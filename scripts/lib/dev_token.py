"""Signs the dev account in on a running `connector serve` through the pages, the way a
person would (authorize -> login -> printed one-time code -> consent).

usage: dev_token.py BASE_URL SERVE_LOG CLIENT_SECRET [RESOURCE]
       dev_token.py --approve BASE_URL SERVE_LOG

The first form links the dev client (chatgpt-dev) the way ChatGPT would and prints the
access token: scripts/check-openapi gives it to schemathesis. With RESOURCE (RFC 8707),
e.g. BASE_URL/mcp, the token is issued for that resource: scripts/mcp-conformance uses it
for a token the MCP endpoint accepts.

--approve is the person in front of a browser for a program that prints an authorization
URL and waits on its redirect URI (`conformance authorization`'s authorization-code-grant
scenario): it copies stdin to stdout, and for each line that is an authorization URL of
BASE_URL it signs in, allows, and delivers the redirect (code, state, iss) to the redirect
URI with a GET, as the browser would. Nothing of the code or a token is printed.
"""
import re
import sys
import time
import urllib.parse

import requests

AUTHORIZE_PATH = "/oauth/chatgpt/authorize"


def fields(html):
    grab = lambda name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)
    return {"request": grab("request"), "csrf": grab("csrf")}


def one_time_codes(log_path):
    return re.findall(r"one-time code for dev@dexter\.local: (\d+)", open(log_path).read())


def sign_in(base, log_path, authorize_url):
    """Follows an authorization request through the pages as the dev account and allows
    it; returns the redirect (the client's redirect URI with code, state and iss)."""
    browser = requests.Session()
    r = browser.get(authorize_url, allow_redirects=False)
    assert r.status_code == 303, r.text
    form = fields(browser.get(urllib.parse.urljoin(base, r.headers["location"])).text)
    # A serve.log may hold codes of earlier sign-ins: wait for one more than it has now.
    before = len(one_time_codes(log_path))
    r = browser.post(f"{base}/oauth/chatgpt/login", data={**form, "email": "dev@dexter.local"}, allow_redirects=False)
    assert r.status_code == 200, r.text

    code = None
    for _ in range(50):
        found = one_time_codes(log_path)
        if len(found) > before:
            code = found[-1]
            break
        time.sleep(0.1)
    assert code, "connector serve printed no one-time code"

    r = browser.post(f"{base}/oauth/chatgpt/callback", data={**form, "code": code}, allow_redirects=False)
    assert r.status_code == 303, r.text
    form = fields(browser.get(urllib.parse.urljoin(base, r.headers["location"])).text)
    r = browser.post(f"{base}/oauth/chatgpt/consent", data={**form, "decision": "allow"}, allow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def dev_token(base, log_path, secret, resource):
    redirect = f"{base}/dev/oauth/callback"
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": "chatgpt-dev",
            "redirect_uri": redirect,
            "scope": "mcp:invoke wallet:read profile",
            "state": "schemathesis",
            **resource,
        }
    )
    location = sign_in(base, log_path, f"{base}{AUTHORIZE_PATH}?{query}")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
    tokens = requests.post(
        f"{base}/oauth/chatgpt/token",
        auth=("chatgpt-dev", secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, **resource},
    ).json()
    return tokens["access_token"]


def approve(base, log_path):
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        url = line.strip()
        if url.startswith(f"{base}{AUTHORIZE_PATH}?"):
            location = sign_in(base, log_path, url)
            print("dev_token.py: signed in and allowed; delivering the redirect", flush=True)
            requests.get(location, timeout=10)


if sys.argv[1] == "--approve":
    approve(sys.argv[2], sys.argv[3])
else:
    base, log_path, secret = sys.argv[1], sys.argv[2], sys.argv[3]
    resource = {"resource": sys.argv[4]} if len(sys.argv) > 4 else {}
    print(dev_token(base, log_path, secret, resource))
