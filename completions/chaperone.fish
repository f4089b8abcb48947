# fish completion for chaperone(1). Commands, options and run ids come from the binary
# (`chaperone __complete ...`), so this file does not need to change when options do.

# The command named on the line so far (first word that is not an option), else nothing.
function __chaperone_command
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case --spool
                set skip 1
            case '-*'
            case '*'
                echo $word
                return 0
        end
    end
    return 1
end

# --spool DIR as given on the line, for the run id lookup.
function __chaperone_spool_args
    set -l words (commandline -opc)
    for i in (seq (count $words))
        if test "$words[$i]" = --spool; and test $i -lt (count $words)
            echo --spool
            echo $words[(math $i + 1)]
        end
    end
end

function __chaperone_after_double_dash
    contains -- -- (commandline -opc)
end

function __chaperone_wants_run
    set -l command (__chaperone_command); or return 1
    __chaperone_after_double_dash; and return 1
    string match -q -- '-*' (commandline -ct); and return 1
    chaperone __complete positionals $command 2>/dev/null | string match -qr '^runs?$'
end

function __chaperone_options
    set -l command (__chaperone_command)
    chaperone __complete options $command 2>/dev/null | string replace -r '\t[a-z]+\t' '\t'
end

function __chaperone_prev_is
    set -l words (commandline -opc)
    contains -- $words[-1] $argv
end

complete -c chaperone -f
complete -c chaperone -n 'not __chaperone_command' -a '(chaperone __complete commands 2>/dev/null)'
complete -c chaperone -n 'not __chaperone_after_double_dash; and string match -q -- "-*" (commandline -ct)' -a '(__chaperone_options)'
complete -c chaperone -n __chaperone_wants_run -a '(chaperone (__chaperone_spool_args) __complete runs 2>/dev/null)'
complete -c chaperone -n '__chaperone_prev_is -s --signal' -a '(chaperone __complete signals 2>/dev/null)'
complete -c chaperone -n '__chaperone_prev_is --stream' -a 'stdout stderr'
complete -c chaperone -n '__chaperone_prev_is --max-output-action' -a 'drop stop'
complete -c chaperone -n '__chaperone_prev_is --mode' -a 'local sudo ssh ssh-then-sudo sudo-then-ssh'
complete -c chaperone -n '__chaperone_prev_is --spool --cwd' -a '(__fish_complete_directories)'
complete -c chaperone -n '__chaperone_prev_is --stdin -i --identity' -F
complete -c chaperone -n __chaperone_after_double_dash -F
