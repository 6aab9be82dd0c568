/** The gRPC adapter of the images store (containerd.services.images.v1.Images). */
import { type Contracts, type ServiceRegistration, invalidArgument, namespaceFromMetadata, unaryHandler } from '@ctl/proto';
import type { CreateImageRequest__Output } from '@ctl/proto/generated/containerd/services/images/v1/CreateImageRequest';
import type { DeleteImageRequest__Output } from '@ctl/proto/generated/containerd/services/images/v1/DeleteImageRequest';
import type { GetImageRequest__Output } from '@ctl/proto/generated/containerd/services/images/v1/GetImageRequest';
import type { ListImagesRequest__Output } from '@ctl/proto/generated/containerd/services/images/v1/ListImagesRequest';
import type { UpdateImageRequest__Output } from '@ctl/proto/generated/containerd/services/images/v1/UpdateImageRequest';
import type * as grpc from '@grpc/grpc-js';
import { descriptorFromWire, imageToWire } from './convert';
import type { Images } from './images';
import type { ImageStore } from './store';

export function imagesRegistration(contracts: Contracts, store: ImageStore): ServiceRegistration {
  const imagesOf = (call: { metadata: grpc.Metadata }): Images => store.namespace(namespaceFromMetadata(call.metadata));
  return {
    definition: contracts.containerd.services.images.v1.Images.service,
    implementation: {
      Get: unaryHandler(async (req: GetImageRequest__Output, call) => ({ image: imageToWire(await imagesOf(call).get(req.name)) })),
      List: unaryHandler(async (req: ListImagesRequest__Output, call) => ({
        images: (await imagesOf(call).list(req.filters)).map(imageToWire),
      })),
      Create: unaryHandler(async (req: CreateImageRequest__Output, call) => {
        if (!req.image) throw invalidArgument('image create needs an image');
        const image = await imagesOf(call).create({
          name: req.image.name,
          labels: req.image.labels,
          target: descriptorFromWire(req.image.target)!,
        });
        return { image: imageToWire(image) };
      }),
      Update: unaryHandler(async (req: UpdateImageRequest__Output, call) => {
        if (!req.image) throw invalidArgument('image update needs an image');
        const target = descriptorFromWire(req.image.target);
        const image = await imagesOf(call).update(
          { name: req.image.name, labels: req.image.labels, ...(target ? { target } : {}) },
          req.updateMask?.paths ?? [],
        );
        return { image: imageToWire(image) };
      }),
      Delete: unaryHandler(async (req: DeleteImageRequest__Output, call) => {
        await imagesOf(call).delete(req.name, { sync: req.sync });
        return {};
      }),
    },
  };
}
