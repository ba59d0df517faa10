/*
 * fuzz.h — the libFuzzer entry point every target in this folder defines.
 *
 * Each fuzz_*.c feeds bytes to one parser that takes bytes and knows no I/O
 * (the event decoder, the rule-file parser, the expression parser, the
 * template compiler and renderer). Built with clang -fsanitize=fuzzer in
 * build-fuzz/ they are libFuzzer targets; linked with driver.c in the normal
 * and ASan builds they replay the committed corpus and every crasher found
 * (tests/fuzz/corpus/TARGET/) as regression tests.
 */
#ifndef JD_FUZZ_H
#define JD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/** Run one input; must not crash, leak or read out of bounds, whatever the bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
