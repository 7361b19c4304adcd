/* The one translation unit of the test binary that instantiates the library. */
#define VBALLOON_IMPLEMENTATION
#include "../vballoon.h"
