"""Run by test_clock.py under faketime: one SDK whose clock is wrong sends a few messages to
The Eye, and prints as JSON what its clock said, the messages it sent, the answers it got and
the failures it reported. Arguments: segment|rudder URL WRITE_KEY SESSION_ID."""

import json
import sys
import time

kind, url, key, session = sys.argv[1:5]
if kind == "segment":
    from segment.analytics import request
    from segment.analytics.client import Client
else:
    from rudderstack.analytics import request
    from rudderstack.analytics.client import Client

answers = []
request._session.hooks["response"].append(lambda response, *a, **k: answers.append([response.status_code, response.text]))
failures = []
client = Client(key, host=url, on_error=lambda error, batch: failures.append(repr(error)))
clock = time.time()
messages = [
    client.track(anonymous_id=session, event="cta click",
                 properties={"category": "page interaction", "host": "shop.example.com", "path": "/", "element": "buy"})[1],
    client.page(anonymous_id=session, name="Home", properties={"host": "shop.example.com", "path": "/"})[1],
]
client.flush()
client.join()
print(json.dumps({"clock": clock, "messages": messages, "answers": answers, "failures": failures}))
