"""Business flows, written as the steps a person would recognise (no selectors here).

- :mod:`bot.flows.double_entry`: one self-assessment entered, read back and checked.
- :mod:`bot.flows.identity`: search before create (identitovigilance).
- :mod:`bot.pages.conformance`: the preflight that every mapped text is still on screen.
"""
