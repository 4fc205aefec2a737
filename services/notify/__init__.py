"""The notifier: the service's events sent to Discord, Slack and signed webhooks, by a process
of its own (``storyqa-service notifier``; ``start`` runs one when ``service.notify`` lists
targets).

Rooms: :mod:`~.targets` (each kind's message format and the receiver's limits),
:mod:`~.delivery` (one message sent, with retries, rate limits and refusals) and
:mod:`~.notifier` (the loop: a Redis consumer group on the event stream, one sender per
target, each entry acknowledged once every target has it).
"""
