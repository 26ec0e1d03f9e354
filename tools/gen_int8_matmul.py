# Generates engine/src/main/java/io/jvit/engine/Int8Matmul.java from tools/int8_matmul_template.java
# (run from the repo root). Kernels are unrolled by hand because C2 keeps vector locals, not arrays of
# vectors, in registers; each kernel has its own store helper (a helper shared by several hot kernels
# was compiled on its own and not inlined, which boxed the vectors: 5x slower).
import re, sys
MR = 8
rows = range(MR)
FIGURES = open('tools/int8_figures.txt').read().strip() if len(sys.argv) < 2 else sys.argv[1]

a32_decl = "\n".join(f"        FloatVector c{r}0 = z, c{r}1 = z;" for r in rows)
a32_loop = []
for r in rows:
    a32_loop.append(f"            av = FloatVector.broadcast(F, a.get(JAVA_FLOAT_UNALIGNED, ak + {r} * lda));")
    a32_loop.append(f"            c{r}0 = av.fma(b0, c{r}0);")
    a32_loop.append(f"            c{r}1 = av.fma(b1, c{r}1);")
a32_epi = "\n".join(f"        storeW8A32(c, cOff + {r} * ldc, c{r}0.fma(s0, bias0), c{r}1.fma(s1, bias1), epilogue);" for r in rows)

a8_decl = "\n".join(f"        IntVector x{r} = z, y{r} = z;" for r in rows)
a8_loop = []
for r in rows:
    a8_loop.append(f"            p0 = IntVector.broadcast(I, q.get(JAVA_INT_UNALIGNED, ak + {r} * lq)).reinterpretAsShorts();")
    a8_loop.append(f"            p1 = IntVector.broadcast(I, q.get(JAVA_INT_UNALIGNED, ak + {r} * lq + 4)).reinterpretAsShorts();")
    a8_loop.append(f"            v = off.add(p0.mul(w0)).add(p1.mul(w1)).reinterpretAsInts();")
    a8_loop.append(f"            x{r} = x{r}.add(v);")
    a8_loop.append(f"            y{r} = y{r}.add(v.lanewise(VectorOperators.ASHR, 16));")
a8_epi = []
for r in rows:
    a8_epi.append(f"        storeW8A8(c, cOff + {r} * ldc, x{r}, y{r}, fix, s0.mul(sa.get(JAVA_FLOAT, saOff + {r} * 4L)), bias0, epilogue);")

src = open('tools/int8_matmul_template.java').read()
for k, v in {'@@MR@@': str(MR), '@@A32_DECL@@': a32_decl, '@@A32_LOOP@@': "\n".join(a32_loop), '@@A32_EPI@@': a32_epi,
             '@@A8_DECL@@': a8_decl, '@@A8_LOOP@@': "\n".join(a8_loop), '@@A8_EPI@@': "\n".join(a8_epi),
             '@@FIGURES@@': FIGURES}.items():
    src = src.replace(k, v)
assert '@@' not in src
open("engine/src/main/java/io/jvit/engine/Int8Matmul.java", "w").write(src)
