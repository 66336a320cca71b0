// A phone call driven the way Vapi drives an MCP server, with the official TypeScript MCP SDK client:
// list the tools once, then open a NEW connection (initialize + call) for every tool invocation.
//
// Usage: node vapi_like_call.mjs <mcp url> <token> <call id> <plan.json>
// plan.json: {"steps": [{"tool": "...", "arguments": {...}, "use": {"argName": "stepIndex.path.to.value"}}]}
// Prints one JSON object: {"tools": [names], "results": [structuredContent or {"text", "isError"}]}.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, callId, planFile] = process.argv.slice(2);
const plan = JSON.parse(readFileSync(planFile, "utf8"));
const headers = { Authorization: `Bearer ${token}`, "X-Call-Id": callId };

async function connected(work) {
  const client = new Client({ name: "vapi-like", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

function pick(results, reference) {
  const [index, ...path] = reference.split(".");
  return path.reduce((value, key) => value?.[key], results[Number(index)]);
}

const tools = await connected(async (client) => (await client.listTools()).tools.map((tool) => tool.name));
const results = [];
for (const step of plan.steps) {
  const args = { ...step.arguments };
  for (const [name, reference] of Object.entries(step.use ?? {})) args[name] = pick(results, reference);
  const result = await connected((client) => client.callTool({ name: step.tool, arguments: args }));
  results.push(result.structuredContent ?? { text: result.content?.[0]?.text, isError: result.isError });
}
process.stdout.write(JSON.stringify({ tools, results }));
