package io.jvit.loader.onnx;

import io.jvit.engine.ViTModel;
import io.jvit.loader.LoadOptions;
import io.jvit.loader.ModelFormatException;
import io.jvit.loader.UnsupportedModelException;

import java.nio.file.Path;

/** Imports ViT-family ONNX graphs onto the engine's model. */
public final class OnnxLoader {
    private OnnxLoader() {}

    public static ViTModel load(Path file, LoadOptions options) throws ModelFormatException {
        throw new UnsupportedModelException(file + ": ONNX import is not available yet");
    }
}
