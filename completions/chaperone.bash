# bash completion for chaperone(1). Commands, options and run ids come from the binary
# (`chaperone __complete ...`), so this file does not need to change when options do.

_chaperone_words() {
  local IFS=$'\n'
  # shellcheck disable=SC2207 # one word per line, no globbing of what the binary prints
  COMPREPLY=($(compgen -W "$1" -- "$2"))
}

_chaperone() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local prev=${COMP_WORDS[COMP_CWORD - 1]}
  local command="" word i
  local -a spool=()
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    case $word in
      --)
        if [[ $command == run || $command == cmd ]]; then
          if ((i == COMP_CWORD - 1)); then
            # shellcheck disable=SC2207
            COMPREPLY=($(compgen -c -- "$cur"))
          else
            compopt -o default 2>/dev/null
          fi
          return 0
        fi
        ;;
      --spool)
        spool=(--spool "${COMP_WORDS[i + 1]}")
        ((i++))
        ;;
      --spool=*) spool=(--spool "${word#--spool=}") ;;
      -*) ;;
      *) [[ -z $command ]] && command=$word ;;
    esac
  done

  case $prev in
    -s | --signal)
      [[ $command == kill ]] && _chaperone_words "$(chaperone __complete signals 2>/dev/null)" "${cur#SIG}"
      return 0
      ;;
    --spool | --cwd)
      compopt -o dirnames 2>/dev/null
      return 0
      ;;
    --stdin | -i | --identity)
      compopt -o default 2>/dev/null
      return 0
      ;;
    --max-output-action) _chaperone_words $'drop\nstop' "$cur" && return 0 ;;
    --stream) _chaperone_words $'stdout\nstderr' "$cur" && return 0 ;;
    --mode) _chaperone_words $'local\nsudo\nssh\nssh-then-sudo\nsudo-then-ssh' "$cur" && return 0 ;;
    --host)
      # shellcheck disable=SC2207
      COMPREPLY=($(compgen -A hostname -- "$cur"))
      return 0
      ;;
    --login | --sudo-user)
      # shellcheck disable=SC2207
      COMPREPLY=($(compgen -u -- "$cur"))
      return 0
      ;;
  esac
  # Any other option that takes a value: nothing sensible to offer.
  if [[ $prev == -* && -n $command ]] \
    && chaperone __complete options "$command" 2>/dev/null | grep -q "^$prev	value"; then
    return 0
  fi

  if [[ $cur == -* ]]; then
    _chaperone_words "$(chaperone __complete options ${command:+"$command"} 2>/dev/null | cut -f1)" "$cur"
    return 0
  fi
  if [[ -z $command ]]; then
    _chaperone_words "$(chaperone __complete commands 2>/dev/null | cut -f1)" "$cur"
    return 0
  fi
  if chaperone __complete positionals "$command" 2>/dev/null | grep -qx 'runs\?'; then
    _chaperone_words "$(chaperone "${spool[@]}" __complete runs 2>/dev/null)" "$cur"
  fi
  return 0
}

complete -F _chaperone chaperone
