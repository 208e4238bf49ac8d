/* SHA-256 in hex against the FIPS 180-2 test vectors. */
#include "base/sha256.h"

#include <criterion/criterion.h>
#include <string.h>

Test(sha256, known_vectors)
{
	char hex[SHA256_HEX_SIZE];
	sha256_hex("", 0, hex);
	cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, raw_digest_and_hex_encode)
{
	unsigned char md[SHA256_SIZE];
	sha256("abc", 3, md);
	cr_assert_eq(md[0], 0xba);
	cr_assert_eq(md[SHA256_SIZE - 1], 0xad);
	char hex[SHA256_HEX_SIZE];
	hex_encode(md, 4, hex);
	cr_assert_str_eq(hex, "ba7816bf", "the first bytes, for a short name");
	hex_encode(md, 0, hex);
	cr_assert_str_eq(hex, "");
	const unsigned char edges[] = { 0x00, 0x0f, 0xf0, 0xff };
	hex_encode(edges, sizeof(edges), hex);
	cr_assert_str_eq(hex, "000ff0ff");
}

Test(sha256, hex_digits)
{
	cr_assert_eq(hex_digit('0'), 0);
	cr_assert_eq(hex_digit('9'), 9);
	cr_assert_eq(hex_digit('a'), 10);
	cr_assert_eq(hex_digit('F'), 15);
	cr_assert_eq(hex_digit('g'), -1);
	cr_assert_eq(hex_digit(' '), -1);
	cr_assert_eq(hex_digit('\0'), -1);
}
