// A protocol header that includes a client header: the layer check must refuse it.
#pragma once

#include <dbserve/client/higher.hpp>
