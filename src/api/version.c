/* version.c — library version queries. */
#include "climz.h"

unsigned climz_version_number(void) { return CLIMZ_VERSION_NUMBER; }
const char *climz_version_string(void) { return "0.1.0"; }
