# Generates engine/src/main/java/io/jvit/engine/Int8Matmul.java from tools/int8_matmul_template.java
# (run from the repo root). Kernels are unrolled by hand because C2 keeps vector locals, not arrays of
# vectors, in registers; each kernel has its own store helper (a helper shared by several hot kernels
# was compiled on its own and not inlined, which boxed the vectors: 5x slower).
import re, sys
FIGURES = "\n * ".join(open('tools/int8_figures.txt').read().strip().split("\n"))

# three rows so that the tile divides MR = 6
A8R = 3
rows8 = range(A8R)
a8_decl = "\n".join(f"        IntVector x{r} = z, y{r} = z;" for r in rows8)
a8_loop = []
for r in rows8:
    a8_loop.append(f"            ShortVector p{r}0 = IntVector.broadcast(I, q.get(JAVA_INT_UNALIGNED, ak + {r} * lq)).reinterpretAsShorts();")
    a8_loop.append(f"            ShortVector p{r}1 = IntVector.broadcast(I, q.get(JAVA_INT_UNALIGNED, ak + {r} * lq + 4)).reinterpretAsShorts();")
    a8_loop.append(f"            IntVector v{r} = off.add(p{r}0.mul(w0)).add(p{r}1.mul(w1)).reinterpretAsInts();")
    a8_loop.append(f"            x{r} = x{r}.add(v{r});")
    a8_loop.append(f"            y{r} = y{r}.add(v{r}.lanewise(VectorOperators.ASHR, 16));")
a8_epi = []
for r in rows8:
    a8_epi.append(f"        v = y{r}.add(x{r}.sub(y{r}.lanewise(VectorOperators.LSHL, 16)).sub(fix));")
    a8_epi.append(f"        f = ((FloatVector) v.convert(VectorOperators.I2F, 0)).fma(s0.mul(sa.get(JAVA_FLOAT, saOff + {r} * 4L)), bias0);")
    a8_epi.append(f"        if (residual) f = f.add(FloatVector.fromMemorySegment(F, c, cOff + {r} * ldc, NATIVE));")
    a8_epi.append(f"        f.intoMemorySegment(c, cOff + {r} * ldc, NATIVE);")

src = open('tools/int8_matmul_template.java').read()
for k, v in {'@@A8R@@': str(A8R),
             '@@A8_DECL@@': a8_decl, '@@A8_LOOP@@': "\n".join(a8_loop), '@@A8_EPI@@': "\n".join(a8_epi),
             '@@FIGURES@@': FIGURES}.items():
    src = src.replace(k, v)
assert '@@' not in src
open("engine/src/main/java/io/jvit/engine/Int8Matmul.java", "w").write(src)
