// Judges a `conformance authorization` run against the `authorization:` section of the
// baseline (conformance/expected-failures.yml), by the rules the suite's own
// --expected-failures applies to `server` runs (the authorization command has no such
// option): a check that is FAILURE or WARNING fails its scenario; an entry is a whole
// scenario (`- name`) or one check of it (`- name:check-id`); a failure not in the
// baseline, a listed entry that now passes or names no scenario of the release, or a
// scenario that left no results fails the run.
//
// usage: node judge-authorization.mjs BASELINE RESULTS_DIR SCENARIO...
// Exits 0 when the run matches the baseline.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

const [baselinePath, resultsDir, ...scenarios] = process.argv.slice(2);
if (!resultsDir || scenarios.length === 0) {
  console.error("usage: node judge-authorization.mjs BASELINE RESULTS_DIR SCENARIO...");
  process.exit(2);
}

const entries = (parse(readFileSync(baselinePath, "utf8")) ?? {}).authorization ?? [];
const wholesale = new Set(entries.filter((e) => !String(e).includes(":")).map(String));
const perCheck = new Map();
for (const entry of entries.map(String).filter((e) => e.includes(":"))) {
  const [scenario, check] = [entry.slice(0, entry.indexOf(":")), entry.slice(entry.indexOf(":") + 1)];
  perCheck.set(scenario, new Set([...(perCheck.get(scenario) ?? []), check]));
}

// The runner names a scenario's directory `authorization-server-<scenario>-<ISO timestamp>`;
// in a results directory used before, the newest is this run's.
const checksOf = (scenario) => {
  const dirs = existsSync(resultsDir) ? readdirSync(resultsDir).sort() : [];
  const prefix = `authorization-server-${scenario}-`;
  const dir = dirs.findLast((d) => d.startsWith(prefix) && /^\d{4}-\d\d-\d\dT/.test(d.slice(prefix.length)));
  const file = dir && path.join(resultsDir, dir, "checks.json");
  return file && existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null;
};
const failed = (check) => check.status === "FAILURE" || check.status === "WARNING";

const expected = [];
const stale = [];
const unexpected = [];
for (const scenario of scenarios) {
  const checks = checksOf(scenario);
  if (checks === null) {
    unexpected.push(`${scenario} (left no results)`);
    continue;
  }
  if (wholesale.has(scenario)) {
    (checks.some(failed) ? expected : stale).push(scenario);
    continue;
  }
  const allowed = perCheck.get(scenario) ?? new Set();
  for (const check of checks.filter(failed)) {
    (allowed.has(check.id) ? expected : unexpected).push(`${scenario}:${check.id}`);
  }
  for (const id of allowed) {
    if (checks.some((c) => c.id === id && c.status === "SUCCESS")) stale.push(`${scenario}:${id}`);
  }
}

for (const entry of entries.map(String)) {
  const scenario = entry.includes(":") ? entry.slice(0, entry.indexOf(":")) : entry;
  if (!scenarios.includes(scenario)) stale.push(`${entry} (no such scenario in this release)`);
}

const list = (title, items, mark) => {
  if (items.length === 0) return;
  console.log(`\n${title}`);
  for (const item of items) console.log(`  ${mark} ${item}`);
};
console.log("\nAuthorization server scenarios against the baseline:");
list("Expected failures (in baseline):", expected, "~");
list("Stale baseline entries (now passing - remove from baseline):", stale, "✓");
list("Unexpected failures (not in baseline):", unexpected, "✗");
const ok = stale.length === 0 && unexpected.length === 0;
console.log(ok ? "\nBaseline check passed: all failures are expected." : "\nBaseline check failed.");
process.exit(ok ? 0 : 1);
