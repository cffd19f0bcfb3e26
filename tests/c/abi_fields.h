/* The public structs of Valkey 9.1.2's dict.h and their fields, as an X-macro
 * list shared by abi_layout_orig.c (compiled against the ORIGINAL dict.h) and
 * abi_test.c (compiled against include/valkey_rs_core.h).
 *   ABI_STRUCT(type)        the struct (by its typedef name)
 *   ABI_FIELD(type, field)  one member (offsetof and sizeof compared)
 *   ABI_FAM(type, field)    a flexible array member (offsetof compared)
 */
#define ABI_STRUCTS(ABI_STRUCT, ABI_FIELD, ABI_FAM) \
    ABI_STRUCT(dict)                                \
    ABI_FIELD(dict, type)                           \
    ABI_FIELD(dict, ht_table)                       \
    ABI_FIELD(dict, ht_used)                        \
    ABI_FIELD(dict, rehashidx)                      \
    ABI_FIELD(dict, pauserehash)                    \
    ABI_FIELD(dict, ht_size_exp)                    \
    ABI_FIELD(dict, pauseAutoResize)                \
    ABI_FAM(dict, metadata)                         \
    ABI_STRUCT(dictType)                            \
    ABI_FIELD(dictType, hashFunction)               \
    ABI_FIELD(dictType, keyDup)                     \
    ABI_FIELD(dictType, keyCompare)                 \
    ABI_FIELD(dictType, keyDestructor)              \
    ABI_FIELD(dictType, valDestructor)              \
    ABI_FIELD(dictType, resizeAllowed)              \
    ABI_FIELD(dictType, rehashingStarted)           \
    ABI_FIELD(dictType, rehashingCompleted)         \
    ABI_FIELD(dictType, dictMetadataBytes)          \
    ABI_STRUCT(dictIterator)                        \
    ABI_FIELD(dictIterator, d)                      \
    ABI_FIELD(dictIterator, index)                  \
    ABI_FIELD(dictIterator, table)                  \
    ABI_FIELD(dictIterator, safe)                   \
    ABI_FIELD(dictIterator, entry)                  \
    ABI_FIELD(dictIterator, nextEntry)              \
    ABI_FIELD(dictIterator, fingerprint)            \
    ABI_STRUCT(dictDefragFunctions)                 \
    ABI_FIELD(dictDefragFunctions, defragAlloc)     \
    ABI_FIELD(dictDefragFunctions, defragKey)       \
    ABI_FIELD(dictDefragFunctions, defragVal)

/* Constants and enumerators of dict.h. */
#define ABI_CONSTS(ABI_CONST) \
    ABI_CONST(DICT_OK)        \
    ABI_CONST(DICT_ERR)       \
    ABI_CONST(DICT_RESIZE_ENABLE) \
    ABI_CONST(DICT_RESIZE_AVOID)  \
    ABI_CONST(DICT_RESIZE_FORBID)
