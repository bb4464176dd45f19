// How a model family writes tool calls, recognized from its chat template: the text around each call, the key that
// holds the arguments, and whether several calls may follow each other. The one table both the worker (prompt and
// grammar) and the main thread (parsing the output) read, so they never disagree about a model.
//
//   hermes   <tool_call>\n{"name": "f", "arguments": {…}}\n</tool_call>   Qwen 2.5/3, Hermes 2/3 (their templates)
//   llama3   {"name": "f", "parameters": {…}}                           Llama 3.1–3.3 (JSON as the whole reply)
//   mistral  [TOOL_CALLS][{"name": "f", "arguments": {…}}, …]           Mistral v3 templates
//   generic  the hermes form, with Loom's own instructions in the system message (templates that render no tools)

export type ToolFamily = "hermes" | "llama3" | "mistral" | "generic";

export interface ToolSyntax {
  readonly family: ToolFamily;
  /** Written once before the calls ("" when a call starts with its JSON object). */
  readonly blockOpen: string;
  readonly blockClose: string;
  /** Around each call's JSON object. */
  readonly callOpen: string;
  readonly callClose: string;
  /** Between two calls. */
  readonly separator: string;
  /**
   * The text that announces calls, as the parser looks for it and as tool_choice auto's grammar waits for it ("" for
   * Llama 3, whose calls are a bare JSON object: a reply that starts with "{").
   */
  readonly marker: string;
  readonly argumentsKey: "arguments" | "parameters";
  /** Whether the family can carry several calls in one reply (Llama 3.1's template refuses more than one). */
  readonly parallel: boolean;
  /** Whether the model's own template renders `tools` (else Loom adds its instructions as a system message). */
  readonly templateRendersTools: boolean;
}

const HERMES = {
  blockOpen: "",
  blockClose: "",
  callOpen: "<tool_call>\n",
  callClose: "\n</tool_call>",
  separator: "\n",
  marker: "<tool_call>",
  argumentsKey: "arguments",
  parallel: true,
} as const;

const SYNTAX: Readonly<Record<ToolFamily, Omit<ToolSyntax, "family" | "templateRendersTools">>> = {
  hermes: HERMES,
  generic: HERMES,
  llama3: { blockOpen: "", blockClose: "", callOpen: "", callClose: "", separator: "", marker: "", argumentsKey: "parameters", parallel: false },
  mistral: {
    blockOpen: "[TOOL_CALLS][",
    blockClose: "]",
    callOpen: "",
    callClose: "",
    separator: ", ",
    marker: "[TOOL_CALLS]",
    argumentsKey: "arguments",
    parallel: true,
  },
};

export function toolFamilyOf(template: string | null): ToolFamily {
  if (template === null || !/\btools\b/.test(template)) return "generic";
  if (template.includes("<tool_call>")) return "hermes";
  if (template.includes("[TOOL_CALLS]")) return "mistral";
  if (template.includes("<|start_header_id|>") && template.includes('"parameters"')) return "llama3";
  return "generic";
}

export function toolSyntaxOf(template: string | null): ToolSyntax {
  const family = toolFamilyOf(template);
  return { family, ...SYNTAX[family], templateRendersTools: family !== "generic" };
}
