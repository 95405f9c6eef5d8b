"""``wsdat completion bash|zsh|fish``: shell completion scripts, written from the command's own parser.

Every subcommand (plugins' included), every flag (each DAT parameter's among them), the values of flags with a fixed
set (``--output``, ``--view``, ...), files where a flag takes a file, and plugin names for ``--callbacks`` (asked of
``wsdat plugins --names`` when the user presses Tab, so a plugin installed later completes too; ``.py`` files beside
them). The scripts are generated, never written by hand, so they cannot fall behind the parser.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from typing import Final

__all__ = ["SHELLS", "Command", "commands_of", "completion_script"]

SHELLS: Final = ("bash", "zsh", "fish")
#: Flags whose value is a file (by their metavar or their name).
_FILE_METAVARS: Final = frozenset({"FILE", "PATH"})
_PLUGIN_FLAGS: Final = frozenset({"--callbacks"})
_PLUGIN_NAMES: Final = "wsdat plugins --names 2>/dev/null"


@dataclass
class Flag:
    names: list[str]
    help: str
    takes_value: bool
    choices: list[str] = field(default_factory=list)
    files: bool = False
    plugins: bool = False


@dataclass
class Command:
    name: str
    help: str
    flags: list[Flag]
    #: What the positional arguments are: "file" (complete files) or "" (nothing to offer).
    positional: str = ""
    #: The values a positional argument takes, when it has a fixed set (``wsdat completion SHELL``).
    choices: list[str] = field(default_factory=list)


def _flag(action: argparse.Action) -> Flag | None:
    if not action.option_strings or action.help == argparse.SUPPRESS:
        return None
    takes_value = action.nargs != 0
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    names = list(action.option_strings)
    return Flag(names, _first_sentence(action.help or ""), takes_value,
                [str(choice) for choice in action.choices or ()] if takes_value else [],
                files=takes_value and metavar in _FILE_METAVARS,
                plugins=bool(_PLUGIN_FLAGS.intersection(names)))


def _first_sentence(text: str, width: int = 72) -> str:
    """The first clause of a help text, at most ``width`` characters (cut at a word), for a completion menu."""
    text = re.sub(r"\s+", " ", re.sub(r"%\(\w+\)s", "", text).replace("%%", "%")).strip()
    text = re.split(r"(?<=[.;])\s|\s\(", text)[0].rstrip(" .;:")
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + "..."


def commands_of(parser: argparse.ArgumentParser) -> tuple[list[Flag], list[Command]]:
    """The global flags and the subcommands of ``parser`` (``wsdat``'s)."""
    global_flags = [flag for action in parser._actions if (flag := _flag(action)) is not None]
    commands: list[Command] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            flags = [flag for sub_action in sub._actions if (flag := _flag(sub_action)) is not None]
            positionals = [a for a in sub._actions if not a.option_strings]
            file_positional = any(a.dest == "file" for a in positionals)
            choices = [str(choice) for a in positionals for choice in a.choices or ()]
            commands.append(Command(name, _first_sentence(helps.get(name, "")), flags,
                                    "file" if file_positional else "", choices))
    return global_flags, commands


def completion_script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` (``bash``, ``zsh`` or ``fish``)."""
    if shell not in SHELLS:
        raise ValueError(f"completion: {shell!r} is not allowed; expected one of {', '.join(SHELLS)}")
    global_flags, commands = commands_of(parser)
    write = {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell]
    return write(global_flags, commands)


# ------------------------------------------------------------------------------------------------------------ bash
def _bash(global_flags: list[Flag], commands: list[Command]) -> str:
    words = [name for flag in global_flags for name in flag.names]
    lines = [
        "# wsdat completion for bash: eval \"$(wsdat completion bash)\" in ~/.bashrc, or save it as",
        "# ~/.local/share/bash-completion/completions/wsdat",
        "_wsdat_files() { mapfile -t COMPREPLY < <(compgen -f -- \"$1\"); }",
        "_wsdat() {",
        "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" cmd=\"\" i",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        case \"${COMP_WORDS[i]}\" in -*) ;; *) cmd=\"${COMP_WORDS[i]}\"; break ;; esac",
        "    done",
        "    if [[ -z $cmd ]]; then",
        f"        COMPREPLY=($(compgen -W {_bash_words([c.name for c in commands] + words)} -- \"$cur\"))",
        "        return",
        "    fi",
        "    case \"$cmd $prev\" in",
    ]
    for command in commands:
        for flag in command.flags:
            if flag.takes_value:
                pattern = "|".join(shlex.quote(f"{command.name} {name}") for name in flag.names)
                lines.append(f"        {pattern}) {_bash_value(flag)}; return ;;")
    lines += ["    esac", "    case \"$cmd\" in"]
    for command in commands:
        flags = _bash_words([name for flag in command.flags for name in flag.names])
        offer = f"COMPREPLY=($(compgen -W {flags} -- \"$cur\"))"
        if command.positional == "file":
            offer = f"if [[ $cur == -* ]]; then {offer}; else _wsdat_files \"$cur\"; fi"
        elif command.choices:
            values = f"COMPREPLY=($(compgen -W {_bash_words(command.choices)} -- \"$cur\"))"
            offer = f"if [[ $cur == -* ]]; then {offer}; else {values}; fi"
        lines.append(f"        {shlex.quote(command.name)}) {offer} ;;")
    lines += ["    esac", "}", "complete -F _wsdat wsdat", ""]
    return "\n".join(lines)


def _bash_value(flag: Flag) -> str:
    """What completes the value of ``flag``."""
    if flag.plugins:
        return (f"COMPREPLY=($(compgen -W \"$({_PLUGIN_NAMES})\" -- \"$cur\")); "
                "mapfile -t -O ${#COMPREPLY[@]} COMPREPLY < <(compgen -f -X '!*.py' -- \"$cur\")")
    if flag.choices:
        return f"COMPREPLY=($(compgen -W {_bash_words(flag.choices)} -- \"$cur\"))"
    if flag.files:
        return "_wsdat_files \"$cur\""
    return "COMPREPLY=()"  # a value of the user's own: nothing to offer


def _bash_words(words: list[str]) -> str:
    return shlex.quote(" ".join(words))


# ------------------------------------------------------------------------------------------------------------- zsh
def _zsh_text(text: str) -> str:
    """Text inside a single-quoted zsh _arguments spec: no brackets or colons of its own."""
    return text.replace("'", "'\\''").replace("[", "(").replace("]", ")").replace(":", "\\:")


def _zsh_spec(flag: Flag) -> list[str]:
    value = ""
    if flag.takes_value:
        label = "value"
        if flag.plugins:
            value = ":plugin:_wsdat_plugins"
        elif flag.choices:
            value = f":{label}:({' '.join(flag.choices)})"
        elif flag.files:
            value = ":file:_files"
        else:
            value = f":{label}: "
    repeat = "*" if flag.takes_value else ""
    return [f"'{repeat}{name}[{_zsh_text(flag.help)}]{value}'" for name in flag.names]


def _zsh_function(command: Command) -> str:
    return "_wsdat_cmd_" + re.sub(r"\W", "_", command.name)


def _zsh(global_flags: list[Flag], commands: list[Command]) -> str:
    lines = [
        "#compdef wsdat",
        "# wsdat completion for zsh: save as _wsdat in a folder of $fpath (then compinit), or",
        "# source <(wsdat completion zsh) after compinit",
        "_wsdat_plugins() {",
        f"    local -a plugins; plugins=(${{(f)\"$({_PLUGIN_NAMES})\"}})",
        "    _alternative 'plugins:plugin:compadd -a plugins' 'files:callbacks file:_files -g \"*.py\"'",
        "}",
    ]
    for command in commands:
        specs = [spec for flag in command.flags for spec in _zsh_spec(flag)]
        if command.positional == "file":
            specs.append("'1:file:_files'")
        elif command.choices:
            specs.append(f"'1:value:({' '.join(command.choices)})'")
        lines += [f"{_zsh_function(command)}() {{", "    _arguments -s \\", *(f"        {spec} \\" for spec in specs),
                  "}"]
    described = " ".join(f"'{_zsh_text(c.name)}:{_zsh_text(c.help)}'" for c in commands)
    global_specs = " ".join(spec for flag in global_flags for spec in _zsh_spec(flag))
    lines += [
        "_wsdat() {",
        "    local context state state_descr line; typeset -A opt_args",
        f"    _arguments -C {global_specs} '1: :->command' '*:: :->args'",
        "    case $state in",
        f"        command) local -a commands; commands=({described})",
        "            _describe -t commands 'wsdat command' commands ;;",
        "        args) case $words[1] in",
        *(f"            {shlex.quote(c.name)}) {_zsh_function(c)} ;;" for c in commands),
        "        esac ;;",
        "    esac",
        "}",
        "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _wsdat \"$@\"; else compdef _wsdat wsdat; fi",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------ fish
def _fish_text(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_flag(flag: Flag, condition: str) -> list[str]:
    names = []
    for name in flag.names:
        if name.startswith("--"):
            names.append(f"-l {name[2:]}")
        elif len(name) == 2:
            names.append(f"-s {name[1]}")
        else:
            names.append(f"-o {name[1:]}")
    if flag.plugins:
        value = f" -x -a '({_PLUGIN_NAMES}; __fish_complete_suffix .py)'"
    elif flag.choices:
        value = f" -x -a {_fish_text(' '.join(flag.choices))}"
    elif flag.files:
        value = " -r -F"
    elif flag.takes_value:
        value = " -x"
    else:
        value = ""
    return [f"complete -c wsdat -n {condition} {' '.join(names)}{value} -d {_fish_text(flag.help)}"]


def _fish(global_flags: list[Flag], commands: list[Command]) -> str:
    lines = ["# wsdat completion for fish: wsdat completion fish > ~/.config/fish/completions/wsdat.fish",
             "complete -c wsdat -f"]
    for flag in global_flags:
        lines += _fish_flag(flag, "__fish_use_subcommand")
    for command in commands:
        lines.append(f"complete -c wsdat -n __fish_use_subcommand -a {command.name} -d {_fish_text(command.help)}")
    for command in commands:
        condition = _fish_text(f"__fish_seen_subcommand_from {command.name}")
        if command.positional == "file":
            lines.append(f"complete -c wsdat -n {condition} -F")
        elif command.choices:
            lines.append(f"complete -c wsdat -n {condition} -a {_fish_text(' '.join(command.choices))}")
        for flag in command.flags:
            lines += _fish_flag(flag, condition)
    return "\n".join(lines) + "\n"
