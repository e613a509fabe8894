"""Interop: the agent's ask_user reaches the user through the Python SDK's elicitation callback
(2025-11-25 elicitation, and the 2026-07-28 input-required retry in mcp.Client's auto mode), and
is relayed as waiting_for_answer + answer_tool_call when the client cannot ask."""

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client


def params(bin_path):
    return StdioServerParameters(command=bin_path, args=["--mock", "--poll-interval", "0.1"], env={})


def answering(answer=None, action="accept"):
    """An elicitation callback that records what it was asked and gives `answer`."""
    asked = []

    async def callback(context, p):
        asked.append(p)
        if action != "accept":
            return types.ElicitResult(action=action)
        return types.ElicitResult(action="accept", content={"answer": answer})

    return callback, asked


def output(result):
    assert not result.is_error, result.content
    s = result.structured_content
    assert s["status"] == "done", s
    return s["output"]


async def run(session, task):
    return await session.call_tool("run_browser_task", {"task": task, "wait_seconds": 30})


async def test_one_time_code_through_elicitation(bin_path):
    cb, asked = answering("482913")
    async with stdio_client(params(bin_path)) as (read, write):
        async with ClientSession(read, write, elicitation_callback=cb) as session:
            await session.initialize()
            out = output(await run(session, "Log in [mock:ask_user=Enter the one-time code we texted you]"))
    assert "tool 'ask_user' returned \"482913\"" in out, out
    assert [a.message for a in asked] == ["Enter the one-time code we texted you"]
    assert asked[0].requested_schema["properties"]["answer"]["type"] == "string"


async def test_choice_between_accounts_is_an_enum(bin_path):
    cb, asked = answering("business")
    async with stdio_client(params(bin_path)) as (read, write):
        async with ClientSession(read, write, elicitation_callback=cb) as session:
            await session.initialize()
            out = output(await run(session, "Statement [mock:ask_user=Which account? | personal | business]"))
    assert "tool 'ask_user' returned \"business\"" in out, out
    schema = asked[0].requested_schema
    assert schema["properties"]["answer"]["enum"] == ["personal", "business"], schema
    assert schema["required"] == ["answer"]


async def test_declined_confirmation_before_buying(bin_path):
    cb, asked = answering(action="decline")
    async with stdio_client(params(bin_path)) as (read, write):
        async with ClientSession(read, write, elicitation_callback=cb) as session:
            await session.initialize()
            out = output(await run(session, "Buy the lamp [mock:ask_user=Buy it for $40? | yes | no]"))
    assert "tool 'ask_user' failed with \"the user declined\"" in out, out
    assert len(asked) == 1


async def test_input_required_retry_in_auto_mode(bin_path):
    from mcp import Client

    cb, asked = answering("654321")
    async with Client(params(bin_path), mode="auto", elicitation_callback=cb) as client:
        result = await client.call_tool(
            "run_browser_task",
            {"task": "Log in [mock:ask_user=Enter the one-time code]", "wait_seconds": 30},
        )
        out = output(result)
    assert "tool 'ask_user' returned \"654321\"" in out, out
    assert len(asked) == 1


async def test_without_a_callback_the_question_is_relayed(bin_path):
    async with stdio_client(params(bin_path)) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            first = await run(session, "Log in [mock:ask_user=Enter the one-time code]")
            s = first.structured_content
            assert s["status"] == "waiting_for_answer", s
            [call] = s["pending_tool_calls"]
            assert call["tool"] == "ask_user"
            assert call["input"]["question"] == "Enter the one-time code"
            assert "answer_tool_call" in s["next_step"]
            done = await session.call_tool(
                "answer_tool_call",
                {"task_id": s["task_id"], "call_id": call["call_id"], "output": "111222", "wait_seconds": 30},
            )
            out = output(done)
    assert "tool 'ask_user' returned \"111222\"" in out, out
