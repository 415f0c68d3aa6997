// A local reverse proxy for scripts/mcp-conformance: the conformance runner's client sends
// no credentials, and Dexter's /mcp answers 401 without an access token. This adds the
// token (read from MCP_TOKEN, never printed) to every request and forwards it unchanged
// to TARGET (connector serve's origin). It stands where a deployment's public origin stands,
// so an Origin naming the proxy itself is passed on as TARGET's own origin (any other Origin,
// e.g. a DNS-rebinding page's, is passed on untouched and refused by /mcp).
// Prints "proxy listening on http://127.0.0.1:PORT".
import http from "node:http";

const target = new URL(process.env.TARGET);
const token = process.env.MCP_TOKEN;
if (!token) {
  console.error("bearer-proxy: MCP_TOKEN is not set");
  process.exit(2);
}

const server = http.createServer((req, res) => {
  const headers = { ...req.headers, host: target.host, authorization: `Bearer ${token}` };
  if (req.headers.origin && req.headers.origin === ownOrigin()) headers.origin = target.origin;
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
    (reply) => {
      res.writeHead(reply.statusCode, reply.headers);
      reply.pipe(res);
    },
  );
  upstream.on("error", (err) => {
    res.writeHead(502, { "content-type": "text/plain" });
    res.end(`bearer-proxy: ${err.code}`);
  });
  req.pipe(upstream);
});
const ownOrigin = () => `http://127.0.0.1:${server.address().port}`;
server.listen(0, "127.0.0.1", () => {
  console.log(`proxy listening on http://127.0.0.1:${server.address().port}`);
});
