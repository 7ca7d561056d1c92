"""An argparse parser that speaks French: headings, ``-h/--help`` and error messages.

argparse builds its texts with ``gettext`` and ships no French catalogue; installing one
would change every program in the process. Instead, :class:`FrenchArgumentParser` sets
its own headings (a :class:`FrenchHelpFormatter`, an explicit ``-h/--help``) and
:meth:`~FrenchArgumentParser.error` translates the English messages argparse hands it,
matched by pattern (the templates of Python 3.11 to 3.13, and 3.14's suggestion); an unknown
message is shown as is rather than failing. Sub-commands get the same class (``parser_class``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

Translate = Callable[[re.Match[str]], str]

_TYPES = {"int": "un nombre entier", "float": "un nombre"}


def _quoted(value: str) -> str:
    """``'x'`` (argparse's ``repr``) -> ``« x »``."""
    return f"« {value[1:-1]} »" if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value


def _choices(choices: str) -> str:
    """``'hybrid', 'dense'`` (3.11) or ``hybrid, dense`` (3.12+) -> ``hybrid, dense``."""
    return re.sub(r"'([^']*)'", r"\1", choices)


def _invalid_choice(m: re.Match[str]) -> str:
    closest = f" (vouliez-vous dire {_quoted(m['closest'])} ?)" if m["closest"] else ""
    return f"choix {_quoted(m['value'])} invalide{closest} ; choix possibles : {_choices(m['choices'])}"


_INNER: list[tuple[re.Pattern[str], Translate]] = [  # what follows « argument --x: »
    (re.compile(r"invalid (?P<type>\S+) value: (?P<value>.*)"),
     lambda m: f"valeur {_quoted(m['value'])} invalide, {_TYPES.get(m['type'], m['type'])} est attendu"),
    (re.compile(r"invalid choice: (?P<value>.+?)(?:, maybe you meant (?P<closest>.+?)\?)? "
                r"\(choose from (?P<choices>.*)\)"), _invalid_choice),
    (re.compile(r"expected one argument"), lambda m: "une valeur est attendue après cette option"),
    (re.compile(r"expected at most one argument"), lambda m: "au plus une valeur est attendue"),
    (re.compile(r"expected at least one argument"), lambda m: "au moins une valeur est attendue"),
    (re.compile(r"expected (?P<n>\d+) arguments?"), lambda m: f"{m['n']} valeur(s) attendue(s)"),
    (re.compile(r"not allowed with argument (?P<other>.+)"),
     lambda m: f"incompatible avec l'argument {m['other']} (n'en donnez qu'un)"),
    (re.compile(r"ignored explicit argument (?P<value>.+)"),
     lambda m: f"cette option ne prend pas de valeur ({_quoted(m['value'])} reçu)"),
]

_WHOLE: list[tuple[re.Pattern[str], Translate]] = [
    (re.compile(r"argument (?P<name>.+?): (?P<inner>.+)", re.DOTALL),
     lambda m: f"argument {m['name']} : {_translate(m['inner'], _INNER)}"),
    (re.compile(r"the following arguments are required: (?P<names>.+)"),
     lambda m: f"argument(s) obligatoire(s) manquant(s) : {m['names']}"),
    (re.compile(r"one of the arguments (?P<names>.+) is required"),
     lambda m: f"l'un des arguments {m['names']} est obligatoire"),
    (re.compile(r"unrecognized arguments: (?P<args>.+)"), lambda m: f"argument(s) non reconnu(s) : {m['args']}"),
    (re.compile(r"ambiguous option: (?P<option>.+?) could match (?P<matches>.+)"),
     lambda m: f"option ambiguë : {m['option']} peut désigner {m['matches']} ; écrivez-la en entier"),
]


def _translate(message: str, table: list[tuple[re.Pattern[str], Translate]]) -> str:
    """The French for an argparse message, or the message itself when no pattern matches."""
    for pattern, french in table:
        found = pattern.fullmatch(message)
        if found:
            return french(found)
    return message


def french_message(message: str) -> str:
    """The French for one of argparse's error messages (unknown ones are kept as is)."""
    return _translate(message, _WHOLE)


class FrenchHelpFormatter(argparse.HelpFormatter):
    """« utilisation : » instead of « usage: », « titre : » with the French space."""

    def add_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "utilisation : " if prefix is None else prefix)

    def start_section(self, heading: str | None) -> None:
        super().start_section(f"{heading} " if heading else heading)


class FrenchArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose help and errors are French; errors end with exit code 2
    after the usage line and a hint naming the right ``--help``."""

    def __init__(self, *, add_help: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", FrenchHelpFormatter)
        super().__init__(add_help=False, **kwargs)
        # argparse names its default groups through gettext; the French titles
        self._positionals.title, self._optionals.title = "arguments", "options"
        self._commands: argparse._SubParsersAction[FrenchArgumentParser] | None = None
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                              help="affiche cette aide et quitte")

    def add_commands(self, dest: str, metavar: str, help: str) -> argparse._SubParsersAction[FrenchArgumentParser]:
        """The required sub-commands of this parser (parsed with this same class)."""
        self._commands = self.add_subparsers(dest=dest, metavar=metavar, help=help, required=True,
                                             parser_class=FrenchArgumentParser)
        return self._commands

    def parse(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        """``parse_args``, but unrecognized arguments are reported by the sub-command they
        follow (its usage line, its ``--help``)."""
        args, extras = self.parse_known_args(argv)
        if extras:
            self._chosen(args).error(f"argument(s) non reconnu(s) : {' '.join(extras)}")
        return args

    def _chosen(self, args: argparse.Namespace) -> FrenchArgumentParser:
        """The innermost sub-command parser chosen in ``args`` (this parser if none)."""
        if self._commands is None:
            return self
        chosen = self._commands.choices.get(getattr(args, self._commands.dest, None) or "")
        return chosen._chosen(args) if isinstance(chosen, FrenchArgumentParser) else self

    def error(self, message: str) -> NoReturn:
        """Usage line, « erreur: … » in French, and where to find the help; exit code 2."""
        hint = f"{self.prog} --help"
        if self._commands is not None:
            hint = f"{self.prog} --help, ou {self.prog} <commande> --help"
        self.print_usage(sys.stderr)
        self.exit(2, f"erreur: {french_message(message)}\naide : {hint}\n")


def add_command(sub: argparse._SubParsersAction[FrenchArgumentParser], name: str, summary: str,
                details: str = "") -> FrenchArgumentParser:
    """A sub-command: ``summary`` in the list of commands, and (with ``details``) atop its
    own ``--help``."""
    description = summary[0].upper() + summary[1:] + "." + (f" {details}" if details else "")
    return sub.add_parser(name, help=summary, description=description)
