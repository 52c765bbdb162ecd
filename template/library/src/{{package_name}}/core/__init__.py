"""The ONEX core: archetype base classes and the services nodes share.

Read in this order: `errors`, `settings`, `envelope`, `intents`, `fsm`, `lifecycle`,
`circuit_breaker`, `retry`, `event_bus`, `metrics`, `health`, `nodes`,
`container`, `registry`, and `workflow` (orchestrators only).
"""
