import pytest, asyncio, orjson
from webtools import *

pytestmark = pytest.mark.integration

async def test_smoke(node, store):
    await store.publish([unit_change(UNIT_A), alert_change("fp1", UNIT_A)])
    ws = await open_client(node, "wall")
    snap = await recv(ws)
    print(snap["type"], snap["seq"], len(snap["units"]), len(snap["alerts"]))
    await store.publish([unit_change(UNIT_B, overdue=3)])
    d = await recv_data(ws, 1)
    print(d)
    hb, _ = await recv_until(ws, lambda f: f["type"] == "heartbeat")
    print(hb)
    await ws.close()
