"""The service's events: typed and versioned (:mod:`~.schemas`), published to a capped Redis
stream and read back in order from any point (:mod:`~.stream`), and derived from a training
attempt's own records as they are written (:mod:`~.tail`)."""
