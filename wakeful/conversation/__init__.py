"""A chat's conversation, decided without I/O: commands, queue modes, what goes to the brain.

    commands.py      parsing commands, and every text wakeful answers with
    modes.py         the queue modes (/mode)
    actions.py       what the chat actor is asked to do
    conversation.py  the rules: events in, actions out
    budget.py        daily budgets: may the chat start another turn today
    approvals.py     tool approvals over Telegram: the policy, the words and buttons

docs/chat.md describes what users see.
"""
