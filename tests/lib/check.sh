# Sourced by the shell checks (tests/c/link_check.sh, tests/cmake/check.sh): one PASS or
# FAIL line per check, counted in $pass and $fail.
pass=0
fail=0
check() { # description, then "" when it holds, else what is wrong (cut to 600 characters)
    local what=$1 bad=$2
    if [ -z "$bad" ]; then
        echo "PASS: $what"
        pass=$((pass + 1))
    else
        echo "FAIL: $what: $(echo $bad | cut -c1-600)"
        fail=$((fail + 1))
    fi
}
