"""Drives a wasmnn node with the official OpenAI Python client (tests/openai_client.rs).

Usage: python3 client.py NODE_URL CHAT_MODEL EMBEDDINGS_MODEL

Every call goes through the `openai` package exactly as an application would make it:
a chat completion plain and streamed (with usage), embeddings in the client's default
encoding (base64) and as floats, the model list, and two refused requests, which must
raise the client's own exception types. What the calls returned is printed as one JSON
object for the Rust test to check; any exception not expected here fails the script.
"""

import json
import sys

import openai

url, chat_model, embeddings_model = sys.argv[1:4]
client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)
messages = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
result = {"openai_version": openai.__version__}

plain = client.chat.completions.create(
    model=chat_model, messages=messages, temperature=0, max_tokens=8, seed=3
)
result["plain"] = {
    "id": plain.id,
    "object": plain.object,
    "created": plain.created,
    "model": plain.model,
    "content": plain.choices[0].message.content,
    "role": plain.choices[0].message.role,
    "finish_reason": plain.choices[0].finish_reason,
    "usage": plain.usage.model_dump(),
}

chunks = []
usage = None
stream = client.chat.completions.create(
    model=chat_model,
    messages=messages,
    temperature=0,
    max_tokens=8,
    seed=3,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage.model_dump()
    for choice in chunk.choices:
        chunks.append(
            {"content": choice.delta.content, "role": choice.delta.role, "finish_reason": choice.finish_reason}
        )
result["stream"] = {
    "content": "".join(c["content"] or "" for c in chunks),
    "chunks": len(chunks),
    "first_role": chunks[0]["role"] if chunks else None,
    "finish_reason": chunks[-1]["finish_reason"] if chunks else None,
    "usage": usage,
}

sentences = ["A cat sits on the mat.", "Stock markets fell sharply today."]
default = client.embeddings.create(model=embeddings_model, input=sentences)
floats = client.embeddings.create(model=embeddings_model, input=sentences, encoding_format="float")
result["embeddings"] = {
    "default": [d.embedding for d in default.data],
    "float": [d.embedding for d in floats.data],
    "usage": default.usage.model_dump(),
    "model": default.model,
}

result["models"] = sorted(m.id for m in client.models.list())

try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    result["not_found"] = None
except openai.NotFoundError as error:
    result["not_found"] = {"status": error.status_code, "code": error.code, "param": error.param}

try:
    client.chat.completions.create(model=chat_model, messages=[])
    result["bad_request"] = None
except openai.BadRequestError as error:
    result["bad_request"] = {"status": error.status_code, "code": error.code, "param": error.param}

print(json.dumps(result))
