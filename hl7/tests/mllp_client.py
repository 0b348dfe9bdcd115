"""Independent sender for the ADT feed test: PyPI `hl7` (python-hl7) and its asyncio
MLLP client. Reads a JSON plan of steps from argv[2] and sends each to 127.0.0.1:argv[1],
waiting for each ACK (parsed by python-hl7), and prints one JSON result per step.

A step is {"text": str, "encoding": "utf-8" | "latin-1", "cut": null | int}: with
"cut", only the first `cut` bytes of the MLLP frame go out, on a connection of their
own that is then closed (a sender dropped mid-message); no ACK is awaited.
"""
import asyncio
import json
import sys

import hl7
from hl7.mllp import open_hl7_connection


async def main(port, plan):
    reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
    results = []
    for step in plan:
        data = step["text"].encode(step["encoding"])
        if step.get("cut") is not None:
            _, raw = await asyncio.open_connection("127.0.0.1", port)
            raw.write((b"\x0b" + data + b"\x1c\x0d")[: step["cut"]])
            await raw.drain()
            raw.close()
            await raw.wait_closed()
            results.append(None)
            continue
        writer.writeblock(data)
        await writer.drain()
        ack = await asyncio.wait_for(reader.readmessage(), 30)
        msa = ack.segment("MSA")
        try:
            err = str(ack.segment("ERR"))
        except KeyError:
            err = None
        results.append({"code": str(msa[1]), "control_id": str(msa[2]), "err": err})
    writer.close()
    await writer.wait_closed()
    print(json.dumps(results))


if __name__ == "__main__":
    with open(sys.argv[2], encoding="utf-8") as f:
        plan = json.load(f)
    asyncio.run(main(int(sys.argv[1]), plan))
