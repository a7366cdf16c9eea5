#!/bin/bash
# Shared by scripts/bench.sh and scripts/bench-family.sh (sourced): the end of one timed run, and
# min/median/max over a list of times.

# finish_run SCENARIO REP LOG STATUS START END RESULTS: keep the log; on failure print its tail and
# return the status; otherwise print the wall seconds.
finish_run() {
    local scenario=$1 rep=$2 log=$3 status=$4 start=$5 end=$6 results=$7
    cp "$log" "$results/"
    if [ "$status" != 0 ]; then
        echo "$scenario (repetition $rep) failed; log tail:" >&2
        tail -30 "$log" >&2
        return "$status"
    fi
    echo "$end - $start" | bc
}

# stat_of "T1 T2 ..." min|median|max
stat_of() {
    local sorted n
    sorted=$(tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -g)
    n=$(wc -l <<< "$sorted")
    case $2 in
        min) head -1 <<< "$sorted" ;;
        max) tail -1 <<< "$sorted" ;;
        *)
            # An even count: the mean of the two middle values.
            if [ $((n % 2)) = 1 ]; then
                sed -n "$(((n + 1) / 2))p" <<< "$sorted"
            else
                echo "($(sed -n "$((n / 2))p" <<< "$sorted") + $(sed -n "$((n / 2 + 1))p" <<< "$sorted")) / 2" | bc -l
            fi
            ;;
    esac
}
