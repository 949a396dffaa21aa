"""Drives a running llm-gateway with the official `openai` Python package.

Usage: OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 OPENAI_API_KEY=<master key> python openai_sdk_check.py

The gateway's upstream is a mock that answers, in order: a chat completion, a stream, a tool call
and an embedding (see the Rust test that starts it). Exits non-zero on the first mismatch.
"""

import json
import sys

import openai

client = openai.OpenAI(max_retries=0, timeout=30)

models = [m.id for m in client.models.list()]
assert "fast" in models, models

chat = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "Say hello"}])
assert chat.choices[0].message.content == "Hello from the mock!", chat
assert chat.usage.total_tokens == 18, chat.usage

pieces = []
usage = None
with client.chat.completions.create(
    model="fast",
    messages=[{"role": "user", "content": "Count"}],
    stream=True,
    stream_options={"include_usage": True},
) as stream:
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
assert "".join(pieces) == "one two three", pieces
assert len(pieces) >= 3, pieces
assert usage is not None and usage.completion_tokens == 3, usage

tools = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
tool_reply = client.chat.completions.create(
    model="fast", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools, tool_choice="auto"
)
call = tool_reply.choices[0].message.tool_calls[0]
assert call.function.name == "get_weather", call
assert json.loads(call.function.arguments) == {"city": "Paris"}, call
assert tool_reply.choices[0].finish_reason == "tool_calls", tool_reply

emb = client.embeddings.create(model="embed", input=["a", "b"])
assert len(emb.data) == 2 and len(emb.data[0].embedding) == 3, emb

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
except openai.NotFoundError as e:
    assert "no-such-model" in str(e), e
else:
    sys.exit("an unknown model must be a 404")

bad = openai.OpenAI(max_retries=0, api_key="sk-wrong", base_url=client.base_url)
try:
    bad.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
except openai.AuthenticationError:
    pass
else:
    sys.exit("a wrong key must be a 401")

print("openai SDK check: ok")
