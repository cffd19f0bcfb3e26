// The generated header used from C++17: it must compile on its own, give the
// functions C linkage (this file links against the library) and agree with
// the C view of the layouts (checked in abi_test.c).
#include "valkey_rs_core.h"

#include <cstdint>
#include <cstdio>
#include <type_traits>

static_assert(std::is_standard_layout<dict>::value, "dict is standard-layout");
static_assert(std::is_standard_layout<dictIterator>::value, "dictIterator is standard-layout");

static uint64_t hashInt(const void *key) {
    return (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ULL;
}

int main() {
    dictType t{};
    t.hashFunction = hashInt;
    dict *d = dictCreate(&t);
    for (uintptr_t k = 1; k <= 100; k++) dictAdd(d, (void *)k, nullptr);
    unsigned long n = d->ht_used[0] + d->ht_used[1];
    dictIterator it;
    dictInitIterator(&it, d);
    unsigned long seen = 0;
    while (dictNext(&it)) seen++;
    dictResetIterator(&it);
    dictRelease(d);
    if (n != 100 || seen != 100) {
        std::fprintf(stderr, "abi_cxx: n=%lu seen=%lu\n", n, seen);
        return 1;
    }
    std::printf("abi_cxx: ok\n");
    return 0;
}
