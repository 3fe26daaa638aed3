"""A real MCP client for the end-to-end tests (tests/tests/mcp.rs): the official MCP Python SDK over
streamable HTTP, with the key as `Authorization: Bearer`.

Reads a plan on stdin, `{"url": ..., "key": ..., "steps": [...]}`, runs it in one session and prints one
JSON object: `{"initialize": {...}, "results": [...]}`, or `{"error": "..."}` when the session could not
be opened (a refused key). Steps: `{"op": "list_tools"}`, `{"op": "list_resources"}`,
`{"op": "read", "uri": ...}`, `{"op": "call", "tool": ..., "args": {...}}`, and
`{"op": "time_calls", "tool": ..., "args": {...}, "n": N, "chat_from": C}` (the round trips of N calls,
in ms, for the benchmark; with `chat_from`, call i goes to chat C + i). A protocol error of one step is reported as `{"protocol_error": "..."}` in its place.
"""

import asyncio
import json
import sys
import time

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def content_text(content):
    return "".join(getattr(block, "text", "") for block in content)


async def run_step(session, step):
    op = step["op"]
    if op == "list_tools":
        listed = await session.list_tools()
        return {
            "tools": [
                {"name": t.name, "input_schema": t.input_schema, "read_only": bool(t.annotations and t.annotations.read_only_hint)}
                for t in listed.tools
            ]
        }
    if op == "list_resources":
        listed = await session.list_resources()
        return {"resources": [str(r.uri) for r in listed.resources]}
    if op == "read":
        read = await session.read_resource(step["uri"])
        return {"contents": [getattr(c, "text", None) for c in read.contents]}
    if op == "call":
        result = await session.call_tool(step["tool"], step.get("args") or {})
        return {
            "is_error": bool(result.is_error),
            "text": content_text(result.content),
            "structured": result.structured_content,
        }
    if op == "time_calls":
        millis = []
        for i in range(step["n"]):
            args = dict(step.get("args") or {})
            if "chat_from" in step:  # a new chat per call (a chat takes one message a second)
                args["chatId"] = str(step["chat_from"] + i)
            started = time.perf_counter()
            result = await session.call_tool(step["tool"], args)
            millis.append((time.perf_counter() - started) * 1000.0)
            if result.is_error:
                return {"is_error": True, "text": content_text(result.content)}
        return {"millis": millis}
    raise ValueError(f"unknown op {op}")


async def main():
    plan = json.load(sys.stdin)
    headers = {"Authorization": f"Bearer {plan['key']}"} if plan.get("key") else {}
    out = {}
    try:
        async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
            async with streamable_http_client(plan["url"], http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    init = await session.initialize()
                    out["initialize"] = {
                        "protocol_version": str(init.protocol_version),
                        "server": init.server_info.name,
                        "instructions": init.instructions,
                    }
                    results = []
                    for step in plan.get("steps", []):
                        try:
                            results.append(await run_step(session, step))
                        except Exception as e:  # a protocol error (JSON-RPC error) of one step
                            results.append({"protocol_error": f"{type(e).__name__}: {e}"})
                    out["results"] = results
    except BaseException as e:  # the session could not be opened: print why
        if "initialize" in out and "results" in out:
            pass
        else:
            out = {"error": f"{type(e).__name__}: {e!r}"}
            for inner in getattr(e, "exceptions", []) or []:
                out["error"] += f" | {type(inner).__name__}: {inner!r}"
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
