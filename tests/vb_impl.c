/* The one translation unit of the test binary that instantiates the library. */
#define VB_WITH_MMIO
#define VBALLOON_IMPLEMENTATION
#include "../vballoon.h"
