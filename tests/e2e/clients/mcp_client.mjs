// An independent MCP client: the official TypeScript SDK lists, searches and calls through the
// endpoint given in MCP_URL (with the key in MCP_KEY) and prints what it saw as one JSON line.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
  requestInit: { headers: { "x-functions-key": process.env.MCP_KEY } },
});
const client = new Client({ name: "toolweaver-ts-e2e", version: "1.0.0" });
await client.connect(transport);

const listed = await client.listTools();
const search = await client.callTool({
  name: "search_tools",
  arguments: { query: "how many miles is 10 km", top_k: 3 },
});
const call = await client.callTool({
  name: "call_tool",
  arguments: { name: "convert_units", arguments: { value: 10, from_unit: "km", to_unit: "mi" } },
});
const failed = await client.callTool({ name: "call_tool", arguments: { name: "no_such_tool" } });
let unknown = null;
try {
  await client.callTool({ name: "no_such_meta_tool", arguments: {} });
} catch (error) {
  unknown = { code: error.code ?? null, message: String(error.message) };
}
console.log(
  JSON.stringify({
    protocolVersion: transport.protocolVersion ?? null,
    tools: listed.tools.map((tool) => ({
      name: tool.name,
      hasInputSchema: Boolean(tool.inputSchema),
      hasOutputSchema: Boolean(tool.outputSchema),
    })),
    search: search.structuredContent,
    call: call.structuredContent,
    failed: { isError: failed.isError ?? false, text: failed.content?.[0]?.text ?? "" },
    unknown,
  }),
);
await client.close();
