"""storyqa's training service: submit, watch, cancel and resume runs over HTTP, with a queue
(RQ on Redis) that workers on any machine take jobs from.

Rooms: :mod:`~.settings` (``service.*``, validated), :mod:`~.redis_server` (the embedded Redis
server), :mod:`~.store` (a run's live state in Redis, fenced per attempt), :mod:`~.queue`
(submitting, cancelling and resuming runs), :mod:`~.jobs` (one attempt of a run inside a
worker), :mod:`~.worker` (an RQ worker with heartbeats and the reaper of lost runs),
:mod:`~.supervisor` (one command for the single-machine service), :mod:`~.api` (the FastAPI
application) and :mod:`~.client` (the typed Python client the command line is built on).

The run folder and the registry stay the source of truth; Redis holds the queue and the live
state. Importing ``service`` loads no ML framework, no Redis client and no web framework.
"""
