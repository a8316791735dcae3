"""Where the template's state machine definitions are: the migration's and its child
executions' (every `AWS::Serverless::StateMachine`'s `DefinitionUri`)."""

import os

MAIN_DEFINITION = "statemachine/carveout.asl.json"


def definitions_root(template_path: str) -> str:
    """Where DefinitionUri paths start: next to the template, else (a template copied
    elsewhere, as tests do) the repository."""
    here = os.path.dirname(os.path.abspath(template_path))
    if os.path.isdir(os.path.join(here, "statemachine")):
        return here
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def definition_path(template_path: str, uri: str, main_asl: str) -> str:
    """The file of a DefinitionUri; `main_asl` stands for the migration's own."""
    return main_asl if uri == MAIN_DEFINITION else os.path.join(definitions_root(template_path), uri)
